# SecantusDB (MongoDB wire protocol over WiredTiger), the database the test suite runs,
# as the cluster's bundled MongoDB. Built by .ci/images.sh in a context holding this file
# and requirements.txt: secantusdb and its dependencies cut from .ci/requirements/dev.txt
# (hashes kept), so the image runs exactly the versions the tests run with.
#   docker run ghcr.io/picsource/secantusdb:0.7.0b3      # listens on 0.0.0.0:27017

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.txt \
 && ln -s /opt/venv/bin/secantusd-py /opt/venv/bin/secantusd

FROM python:3.11-slim
LABEL org.opencontainers.image.title="picsource-secantusdb" \
      org.opencontainers.image.description="SecantusDB, a MongoDB-wire server, for PicSource's bundled database"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
# uid/gid 999 and /data/db, as the mongo image: the chart's pod security context and
# volume mount fit both. An empty config file stops auto-discovery of other configs.
RUN groupadd --system --gid 999 mongodb \
 && useradd --system --uid 999 --gid 999 --home-dir /data/db --no-create-home mongodb \
 && mkdir -p /data/db /etc/secantus \
 && chown 999:999 /data/db \
 && touch /etc/secantus/secantusd.toml
USER 999:999
EXPOSE 27017
VOLUME /data/db
ENTRYPOINT ["secantusd"]
CMD ["--config", "/etc/secantus/secantusd.toml", "--host", "0.0.0.0", "--port", "27017", "--storage-path", "/data/db"]
