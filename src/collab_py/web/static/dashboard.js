// The dashboard's charts (Chart.js from npm, copied to static/vendor at make setup); the tables carry the same figures.
(function () {
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  if (typeof Chart === "undefined") return;
  var name = function (id) { return data.org_names[String(id)] || ("org " + id); };
  var pairs = data.pairs;
  new Chart(document.getElementById("pairs-chart"), {
    type: "bar",
    data: {
      labels: pairs.map(function (p) { return name(p.payer_org) + " → " + name(p.payee_org); }),
      datasets: [
        { label: "paid on chain", data: pairs.map(function (p) { return Number(p.paid); }), backgroundColor: "#2e7d32" },
        { label: "outstanding", data: pairs.map(function (p) { return Number(p.outstanding); }), backgroundColor: "#f9a825" }
      ]
    },
    options: { animation: false, responsive: true, scales: { x: { stacked: true }, y: { stacked: true } } }
  });
  var ageing = data.frozen_ageing;
  new Chart(document.getElementById("ageing-chart"), {
    type: "bar",
    data: {
      labels: ageing.map(function (b) { return b.bucket; }),
      datasets: [{ label: "frozen", data: ageing.map(function (b) { return Number(b.amount); }), backgroundColor: "#1565c0" }]
    },
    options: { animation: false, responsive: true }
  });
})();
