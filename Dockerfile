# Kansrijke Start FHIR service: production image (gunicorn, 2 workers).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    KS_DATA_DIR=/data KS_ENV=production
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY questionnaires ./questionnaires
COPY mappings ./mappings
COPY examples ./examples
RUN pip install --no-cache-dir '.[production]' \
 && useradd --system --uid 10001 kansrijk && mkdir -p /data && chown kansrijk /data
USER kansrijk
ENV KS_QUESTIONNAIRES_DIR=/app/questionnaires KS_MAPPINGS_DIR=/app/mappings
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/fhir/metadata', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "--workers", "2", "--bind", "0.0.0.0:8080", "--access-logformat", "%(h)s %(m)s %(s)s %(L)s", "service:create_app()"]
