"""Every model, imported in one place so that migrations and `create_all` see the whole schema."""

from wxbackend.addresses.models import Address
from wxbackend.agreements.models import AgreementAcceptance
from wxbackend.applications.models import (
           Application,
           ApplicationRevision,
           ApplicationUpload,
           FinVerification,
           LivenessCheck,
)
from wxbackend.approvals.models import ApprovalDecision, ApprovalRequest
from wxbackend.audit.models import AuditLog
from wxbackend.ca.models import IssuedCertificate
from wxbackend.certificates.models import Binding, CertApp, Certificate, CertificateHold
from wxbackend.identity.models import IdentityCheck
from wxbackend.invoices.models import Invoice, InvoiceItem, InvoiceProfile
from wxbackend.orders.models import Order, OrderContact, OrderEvent
from wxbackend.payments.bank_models import BankStatementLine
from wxbackend.payments.models import Payment, Refund
from wxbackend.staff.models import StaffMember
from wxbackend.support.models import SupportConversation, SupportMessage, SupportReply
from wxbackend.users.models import User

__all__ = ["AuditLog", "BankStatementLine", "Binding", "CertApp", "Certificate", "IdentityCheck", "IssuedCertificate",
           "Order", "OrderEvent", "Payment", "Refund", "User"]
__all__ += ["Address", "Invoice", "InvoiceItem", "InvoiceProfile", "StaffMember"]
__all__ += ["ApprovalDecision", "ApprovalRequest"]
__all__ += ["SupportConversation", "SupportMessage", "SupportReply"]
__all__ += ["CertificateHold"]
__all__ += ["Application", "ApplicationRevision", "ApplicationUpload", "FinVerification", "LivenessCheck"]
__all__ += ["AgreementAcceptance", "OrderContact"]
