"""The notifier registry: a new notifier kind is one file in this package and one line here."""
from alerts import log
from alerts.base import NotifierKind

NOTIFIERS: dict[str, NotifierKind] = {
    "log": log.KIND,
}
