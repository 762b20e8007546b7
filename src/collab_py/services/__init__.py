"""One service per actor of the flow, each a method per SPEC step returning the records read back from the chain."""

from collab_py.services.admin import AdminService
from collab_py.services.base import PreparedStep, Service, StepObserver, StepRecord, WrongRole
from collab_py.services.business import BusinessService
from collab_py.services.finance import AssigneeAccount, FinanceService, KeyAccountMismatch, PaymentKeyMismatch
from collab_py.services.institution import BankAccountMismatch, InstitutionService, ReleaseRefused

__all__ = [
    "AdminService",
    "AssigneeAccount",
    "BankAccountMismatch",
    "BusinessService",
    "FinanceService",
    "InstitutionService",
    "KeyAccountMismatch",
    "PaymentKeyMismatch",
    "PreparedStep",
    "ReleaseRefused",
    "Service",
    "StepObserver",
    "StepRecord",
    "WrongRole",
]
