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
from wxbackend.counter.models import CounterPersonalisation, PinDelivery
from wxbackend.identity.models import IdentityCheck
from wxbackend.invoices.models import Invoice, InvoiceItem, InvoiceProfile
from wxbackend.orders.models import Order, OrderContact, OrderEvent, OrderGroup
from wxbackend.payments.bank_models import BankStatementLine
from wxbackend.payments.models import Payment, Refund
from wxbackend.reminders.models import Reminder, ReminderDelivery, ReminderPreference, SubscribeAccept
from wxbackend.shipping.models import Shipment
from wxbackend.staff.models import StaffMember
from wxbackend.support.models import SupportConversation, SupportMessage, SupportReply
from wxbackend.users.models import User

__all__ = ["AuditLog", "BankStatementLine", "Binding", "CertApp", "Certificate", "IdentityCheck", "IssuedCertificate",
           "Order", "OrderEvent", "Payment", "Refund", "User"]
__all__ += ["Address", "Invoice", "InvoiceItem", "InvoiceProfile", "StaffMember"]
__all__ += ["ApprovalDecision", "ApprovalRequest"]
__all__ += ["SupportConversation", "SupportMessage", "SupportReply"]
__all__ += ["CertificateHold", "OrderGroup"]
__all__ += ["Application", "ApplicationRevision", "ApplicationUpload", "FinVerification", "LivenessCheck"]
__all__ += ["Reminder", "ReminderDelivery", "ReminderPreference", "SubscribeAccept"]
__all__ += ["Shipment"]
__all__ += ["CounterPersonalisation", "PinDelivery"]
__all__ += ["AgreementAcceptance", "OrderContact"]
