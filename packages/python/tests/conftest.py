# pytester runs small pytest sessions in a temporary directory (test_plugin.py uses it).
pytest_plugins = ["pytester"]
