"""Typed application keys: what create_app hands the web layer, and the per-app state the handlers keep."""

from aiohttp import web

from monitor.web.cache import Cached
from monitor.web.metrics_endpoint import MetricsBody
from monitor.web.read_model import AdminActions, DemoControls, ReadModel, WebSettings

READ_MODEL = web.AppKey("read_model", ReadModel)
ADMIN = web.AppKey("admin", AdminActions)
SETTINGS = web.AppKey("settings", WebSettings)
DEMO = web.AppKey("demo", DemoControls)
# Uptime by window of every channel, shared by the pages, the API and the badges; the 90-day bars.
UPTIME = web.AppKey("uptime", Cached)
HISTORY = web.AppKey("history", Cached)
METRICS = web.AppKey("metrics", MetricsBody)
