"""Ships the top-level chart and image locks inside the wheel as `components/charts.lock` and `components/images.lock`.

`charts.lock` stays at the project's top level (the one file a chart version is written
in); teams that `pip install` the library get a copy beside `components/charts.py`,
which reads it from there. Everything else is configured in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithChartLock(build_py):
    def run(self) -> None:
        super().run()
        for name in ("charts.lock", "images.lock"):
            lock = Path(__file__).resolve().with_name(name)
            self.copy_file(str(lock), str(Path(self.build_lib) / "components" / name))


setup(cmdclass={"build_py": BuildPyWithChartLock})
