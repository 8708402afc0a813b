"""The API: signed-in users' actions become changes of Bot resources; pages and the web app."""
