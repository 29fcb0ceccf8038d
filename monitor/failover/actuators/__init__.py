"""The actuator registry: a new actuator kind is one file in this package and one line here."""

from monitor.failover.actions import ActuatorKind
from monitor.failover.actuators import google_ads, log, meta_ads, webhook

ACTUATORS: dict[str, ActuatorKind] = {
    "webhook": webhook.KIND,
    "meta_ads": meta_ads.KIND,
    "google_ads": google_ads.KIND,
    "log": log.KIND,
}
