#!/usr/bin/env python3
"""Checks docker-compose.yml and deploy/Dockerfile without a Docker engine: the YAML parses,
the services, ports, healthchecks and keys the README promises are there, and the Dockerfile
is multi-stage and runs as a non-root user. Exit 1 with one line per problem."""
import pathlib
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
problems = []

compose = yaml.safe_load((root / "docker-compose.yml").read_text())
services = compose.get("services", {})
for name in ("db", "app"):
    if name not in services:
        problems.append(f"service {name!r} is missing")
    elif "healthcheck" not in services[name]:
        problems.append(f"service {name!r} has no healthcheck")
app = services.get("app", {})
build = app.get("build", {})
dockerfile = root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
if not dockerfile.is_file():
    problems.append(f"app's Dockerfile {dockerfile} does not exist")
if not any(str(p).endswith(":8000") for p in app.get("ports", [])):
    problems.append("app does not publish port 8000")
if "0.0.0.0:8000" not in " ".join(app.get("command", [])):
    problems.append("app does not bind 0.0.0.0:8000 inside its container")
env = app.get("environment", {})
for key in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "COUNTER_ISOLATION"):
    if key not in env:
        problems.append(f"app's environment lacks {key}")
if env.get("POSTGRES_HOST") != "db":
    problems.append("app must reach the database at host 'db'")
if app.get("depends_on", {}).get("db", {}).get("condition") != "service_healthy":
    problems.append("app must wait for a healthy db")

if dockerfile.is_file():
    lines = [l.strip() for l in dockerfile.read_text().splitlines() if l.strip() and not l.startswith("#")]
    stages = [l for l in lines if l.upper().startswith("FROM ")]
    if len(stages) < 2:
        problems.append("the Dockerfile is not multi-stage")
    users = [l.split()[1] for l in lines if l.upper().startswith("USER ")]
    if not users or users[-1] in ("root", "0"):
        problems.append("the runtime image does not switch to a non-root user")
    if not any(l.startswith("COPY --from=") for l in lines):
        problems.append("the runtime stage does not copy the binary from the build stage")

for problem in problems:
    print(f"compose check: {problem}")
if problems:
    sys.exit(1)
print("compose check: docker-compose.yml and deploy/Dockerfile look right")
