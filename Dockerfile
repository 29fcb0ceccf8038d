# channel-monitor: the same entry point as the README (`channel-monitor run`).
#   docker build -t channel-monitor .
#   docker run -p 127.0.0.1:8080:8080 -v cm-data:/data channel-monitor                 # the demo
#   docker run -p 127.0.0.1:8080:8080 -v cm-data:/data -v $PWD/channels.yaml:/etc/channel-monitor.yaml:ro \
#       channel-monitor run --config /etc/channel-monitor.yaml --listen 0.0.0.0:8080 --data-dir /data
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY probes ./probes
COPY alerts ./alerts
RUN pip install '.[postgres]' \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home monitor \
    && mkdir -p /data \
    && chown monitor:monitor /data \
    && rm -rf /src

USER monitor
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# Inside a container the server must listen on all interfaces for the port mapping to reach it;
# publish it on the host's loopback (-p 127.0.0.1:8080:8080) unless you mean to expose it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["channel-monitor"]
CMD ["run", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
