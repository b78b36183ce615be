# Nodeless control plane image: web (gunicorn), Celery worker and beat all run from it.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 NODELESS_VAR_DIR=/var/lib/nodeless
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /app nodeless && mkdir -p /var/lib/nodeless \
    && chown nodeless /var/lib/nodeless
WORKDIR /app
# The product's lock only: the development lock (simulator, tests, lint) stays out of the image.
# Its `--find-links`/`--extra-index-url` lines name the build machine's local wheel folders: the image
# installs from PyPI.
COPY requirements.txt ./
RUN python -m venv .venv && sed -i '/^--/d' requirements.txt \
    && .venv/bin/pip install --no-cache-dir -r requirements.txt
# .dockerignore keeps the development side (lab/, simulator/, tests/, bench/, traces) out too.
COPY . .
# Production settings, as the image runs them (the development ones would load the lab, which is not
# here). collectstatic only reads settings: these placeholder secrets never reach a running container.
RUN NODELESS_ENV=production DJANGO_SECRET_KEY=collectstatic NODELESS_ENCRYPTION_KEYS=collectstatic \
    DJANGO_ALLOWED_HOSTS=collectstatic .venv/bin/python manage.py collectstatic --no-input -v0
USER nodeless
EXPOSE 8000
# gunicorn trusts no forwarding header: Django decides, from NODELESS_TRUSTED_PROXIES (docker-compose.yml).
CMD [".venv/bin/gunicorn", "nodeless_saas.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--forwarded-allow-ips", ""]
