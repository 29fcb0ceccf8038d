# channel-monitor: the same entry point as the README (`channel-monitor run`).
#   docker build -t channel-monitor .
#   docker run -p 127.0.0.1:8080:8080 -v cm-data:/data channel-monitor                 # the demo
#   docker run -p 127.0.0.1:8080:8080 -v cm-data:/data -v $PWD/channels.yaml:/etc/channel-monitor.yaml:ro \
#       channel-monitor run --config /etc/channel-monitor.yaml --listen 0.0.0.0:8080 --data-dir /data
#
# The base image is pinned by digest: a tag such as 3.11-slim moves with every rebuild upstream, a digest is
# one exact image. To bump it (monthly, and for a Python or Debian security fix):
#   docker buildx imagetools inspect python:3.11-slim     # copy the top "Digest: sha256:..." (all platforms)
# put it below, then build and run the tests against the image before committing.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The locked dependencies first (hash-checked), in their own layer: it is rebuilt only when the lock changes.
# requirements/service.txt is what the README's first command installs, resolved inside the tested set.
COPY requirements/service.txt requirements/service.txt
RUN pip install --require-hashes -r requirements/service.txt
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY probes ./probes
COPY alerts ./alerts
# --no-deps: everything is installed above; --no-build-isolation: build with the locked setuptools.
RUN pip install --no-deps --no-build-isolation . \
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
