"""Typed application keys shared by the composition root and the web handlers."""
from aiohttp import web

from monitor.demo import DemoWorld
from monitor.service import MonitorService
from monitor.web.cache import Cached

SERVICE = web.AppKey("service", MonitorService)
# Uptime by window of every channel (queries.uptime_windows), shared by the pages, the API and the badges.
UPTIME = web.AppKey("uptime", Cached)
DEMO = web.AppKey("demo", DemoWorld)
