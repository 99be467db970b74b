FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home app && mkdir -p /app/var/imports && chown -R app /app/var
USER app
EXPOSE 8000
# config/gunicorn.py: bind, workers, and an access log with the webhook's verify token redacted.
CMD ["gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application"]
