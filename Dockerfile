# The wmiput image: one image for the host (`wmiput serve`), the workers (`wmiput worker`) and the
# client commands (`wmiput install-examples`, ...). Configured through WMIPUT_* environment
# variables (docs/configuration.md); deploy/README.md shows it in compose and Kubernetes.
#
#   docker build -t wmiput .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY host ./host
COPY workers ./workers
COPY wmiput ./wmiput
RUN pip install . && rm -rf /src

# A fixed, non-root uid/gid, so Kubernetes' runAsNonRoot can check it and volumes can be chowned.
RUN groupadd --system --gid 10001 wmiput \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/wmiput --create-home --shell /usr/sbin/nologin wmiput \
 && install -d -o 10001 -g 10001 /var/lib/wmiput/data
# (Volumes mounted on /var/lib/wmiput/data start out owned by wmiput: the example providers' data_dir.)
USER 10001:10001
WORKDIR /var/lib/wmiput

# 50051: gRPC (TLS beyond loopback); 8081: plain-text grpc.health.v1 only (WMIPUT_HEALTH_LISTEN).
EXPOSE 50051 8081
ENTRYPOINT ["wmiput"]
CMD ["serve"]
