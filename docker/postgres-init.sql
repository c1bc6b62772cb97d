-- Run once, when the postgres volume is first initialised: MLflow keeps its tracking and
-- registry tables in a database of their own (both stockcast and MLflow migrate with Alembic,
-- and each keeps an `alembic_version` table). stockcast's own database is POSTGRES_DB.
CREATE DATABASE mlflow;
