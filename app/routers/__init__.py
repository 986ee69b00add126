"""The API's routes, one router per area; ``app.main.create_app`` includes them."""
