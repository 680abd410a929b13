"""Load profile for the backend: mostly the data endpoint, some health checks."""

from locust import HttpUser, between, task


class ApiUser(HttpUser):
    wait_time = between(0.05, 0.2)

    @task(9)
    def data(self) -> None:
        self.client.get("/api/data", name="/api/data")

    @task(1)
    def health(self) -> None:
        self.client.get("/health", name="/health")
