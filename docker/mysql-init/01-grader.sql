-- Runs once, as root, when the MySQL data directory is first initialised
-- (mounted at /docker-entrypoint-initdb.d/ by docker-compose.yml).

-- Byte-exact, case-sensitive comparisons for the MLflow schema.
ALTER DATABASE `mlflow` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

-- Read-only account the grader uses to inspect what the learner logged.
CREATE USER IF NOT EXISTS 'grader'@'%' IDENTIFIED BY 'grader-readonly';
GRANT SELECT ON `mlflow`.* TO 'grader'@'%';

FLUSH PRIVILEGES;
