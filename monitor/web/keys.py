"""Typed application keys shared by the composition root and the web handlers."""
from aiohttp import web

from monitor.demo import DemoWorld
from monitor.service import MonitorService

SERVICE = web.AppKey("service", MonitorService)
DEMO = web.AppKey("demo", DemoWorld)
