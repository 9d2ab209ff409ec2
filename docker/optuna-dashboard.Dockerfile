# optuna-dashboard on the team stack's Optuna database (compose profile `dashboard`).
FROM python:3.11-slim

# Same Optuna as the study workers (pyproject extra `postgres`: optuna==5.1.0): a newer schema than the
# dashboard knows would be refused.
ARG OPTUNA_VERSION=5.1.0
ARG OPTUNA_DASHBOARD_VERSION=0.21.0
RUN pip install --no-cache-dir "optuna==${OPTUNA_VERSION}" \
    "optuna-dashboard==${OPTUNA_DASHBOARD_VERSION}" "psycopg[binary]>=3.2,<4"

RUN useradd --create-home --uid 1000 optuna
USER optuna
WORKDIR /home/optuna
EXPOSE 8080
