# Kansrijke Start FHIR service: production image (gunicorn, 2 workers).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    KS_DATA_DIR=/data KS_ENV=production
WORKDIR /app
# The package is installed, not run from the source: the Questionnaire, the rules (service/data), the schemas,
# templates and static files are its package data. KS_QUESTIONNAIRES_DIR and KS_MAPPINGS_DIR can point elsewhere.
COPY pyproject.toml README.md /src/
COPY service /src/service
RUN pip install --no-cache-dir '/src[production]' && rm -rf /src \
 && useradd --system --uid 10001 kansrijk && mkdir -p /data && chown kansrijk /data
COPY examples ./examples
USER kansrijk
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/fhir/metadata', timeout=4).status == 200 else 1)"
# -c python:service.gunicorn_conf: requests gunicorn itself refuses are answered with an OperationOutcome too.
CMD ["gunicorn", "-c", "python:service.gunicorn_conf", "--workers", "2", "--bind", "0.0.0.0:8080", "--access-logformat", "%(h)s %(m)s %(s)s %(L)s", "service:create_app()"]
