# streamconv daemon and its command-line subscribers, one image for every service in docker-compose.yml.
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamconv ./streamconv
COPY configs ./configs
RUN pip install --no-cache-dir .
EXPOSE 5555 5556
ENTRYPOINT ["streamconv"]
CMD ["run", "--config", "configs/cluster.yaml"]
