"""The notifier registry: a new notifier is one file in this package and one line here."""
from alerts.base import Notifier
from alerts.log import LogNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    "log": LogNotifier,
}
