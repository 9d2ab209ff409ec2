# The team stack's MLflow tracking server (docker-compose.yml builds it; context: docker/).
FROM python:3.11-slim

# The clients' MLflow version (pyproject extra `postgres`: mlflow==3.17.2; the base install takes mlflow>=3,<4).
ARG MLFLOW_VERSION=3.17.2
# psycopg 3 binary wheel: SQLAlchemy's postgresql+psycopg driver without compiling libpq bindings.
# [auth]: Flask-WTF, which the basic-auth app (MLFLOW_AUTH=1) refuses to start without.
RUN pip install --no-cache-dir "mlflow[auth]==${MLFLOW_VERSION}" "psycopg[binary]>=3.2,<4"

# Run unprivileged; a new named volume copies this directory's ownership on first mount.
RUN useradd --create-home --uid 1000 mlflow \
    && mkdir -p /mlartifacts && chown mlflow:mlflow /mlartifacts
COPY --chmod=755 mlflow-entrypoint.sh /usr/local/bin/mlflow-entrypoint.sh

USER mlflow
WORKDIR /home/mlflow
EXPOSE 5000
ENTRYPOINT ["/usr/local/bin/mlflow-entrypoint.sh"]
