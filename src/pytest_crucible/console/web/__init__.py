"""The dashboard's web app (Starlette): pages, their routes and templates."""
