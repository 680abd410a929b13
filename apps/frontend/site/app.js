// Reads the backend through the mesh gateway (same origin: /api/data).
fetch("/api/data")
  .then((response) => response.json())
  .then((data) => {
    for (const key of ["message", "version", "cluster", "timestamp"]) {
      document.getElementById(key).textContent = data[key];
    }
  })
  .catch(() => { document.getElementById("message").textContent = "backend unreachable"; });
