"""The local CDC stack (MariaDB, PostgreSQL, SeaweedFS S3, Apache Kafka, Kafka Connect + Debezium) as plain
processes started from packages: what `make setup / jars / up / status / down / clean` run."""
