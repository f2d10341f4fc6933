# The worker image used by docker-compose.yml (production: Apache Kafka + Redis 7).
# Its build is deploy/image/build.sh: it installs the package, compiles the pure logic with
# mypyc and checks the installed worker runs it compiled. No machine of ours runs Docker, so
# the tests run the same script in a fresh virtualenv (tests/unit/test_image_build.py).
FROM python:3.11-slim
# The sources, only to build from: the image runs the installed package (site-packages),
# so they are removed after, and no `streams` directory is left to shadow it.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
COPY deploy/image ./deploy/image
# One layer, so that what only the build needs leaves no trace in the image: gcc and
# libc6-dev compile the logic (the image's Python has its headers), and are purged once it
# is built; the check runs again without them, as the worker will. PIP_NO_CACHE_DIR: no
# pip cache in the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && PIP_NO_CACHE_DIR=1 deploy/image/build.sh python \
 && apt-get purge -y --auto-remove gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && deploy/image/build.sh --verify-only python \
 && cd / && rm -rf /src
WORKDIR /app
RUN mkdir /data && chown nobody /data
ENV ABM_WEB_HOST=0.0.0.0 ABM_DATA_DIR=/data
EXPOSE 6066
USER nobody
CMD ["abm", "worker"]
