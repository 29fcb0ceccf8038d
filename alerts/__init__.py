"""The notifier registry: a new notifier kind is one file in this package and one line here."""

from alerts import email, log, slack, webhook
from alerts.base import NotifierKind

NOTIFIERS: dict[str, NotifierKind] = {
    "slack": slack.KIND,
    "email": email.KIND,
    "webhook": webhook.KIND,
    "log": log.KIND,
}
