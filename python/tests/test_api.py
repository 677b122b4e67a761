"""The package's surface: docstrings on every public item, and stubs that
name all of it."""

import ast
import inspect
import os
import unittest

import vmplace


def stub_path():
    return os.path.join(os.path.dirname(vmplace.__file__), "__init__.pyi")


class ApiTest(unittest.TestCase):
    def test_every_public_item_has_a_docstring(self):
        missing = []
        for name in vmplace.__all__:
            obj = getattr(vmplace, name)
            if isinstance(obj, (int, str, tuple)):
                continue
            if not (obj.__doc__ or "").strip():
                missing.append(name)
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr not in ("__enter__", "__exit__"):
                        continue
                    if value is None:  # a default of Error's attributes, told in its doc
                        continue
                    if not (getattr(value, "__doc__", None) or "").strip():
                        missing.append("%s.%s" % (name, attr))
        self.assertEqual(missing, [])

    def test_the_stubs_name_everything_public(self):
        with open(stub_path()) as f:
            tree = ast.parse(f.read())
        names = set()
        members = {}
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                names.add(node.name)
                members[node.name] = {n.name for n in node.body
                                      if isinstance(n, ast.FunctionDef)}
            elif isinstance(node, ast.FunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.AnnAssign):
                names.add(node.target.id)
        self.assertEqual(sorted(set(vmplace.__all__) - names), [])
        for cls in ("Mem", "Region", "Ring", "MView", "Window", "Record"):
            public = {a for a in dir(getattr(vmplace, cls)) if not a.startswith("_")}
            self.assertEqual(sorted(public - members[cls]), [], cls)

    def test_version(self):
        self.assertEqual(vmplace.__version__, "%d.%d.%d" % vmplace.version)
        self.assertIn(vmplace.backend, ("linux", "posix", "windows"))


if __name__ == "__main__":
    unittest.main()
