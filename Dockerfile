# The production image: the API and the workers share it, the command differs.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY api api
COPY workers workers
COPY vistone vistone
RUN pip install --no-cache-dir .
ENV VISTONE_DATA_DIR=/var/lib/vistone
EXPOSE 8000
CMD ["vistone", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-projections", "--no-demo"]
