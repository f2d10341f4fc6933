# The worker image used by docker-compose.yml (production: Apache Kafka + Redis 7).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
RUN pip install --no-cache-dir ".[rocksdb]"
RUN mkdir /data && chown nobody /data
ENV ABM_WEB_HOST=0.0.0.0 ABM_DATA_DIR=/data
EXPOSE 6066
USER nobody
CMD ["abm", "worker"]
