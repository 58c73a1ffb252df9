"""Lambda handlers of the image workflow. Each module is one function in serverless.yml."""
