"""The RNG hygiene scan reads the syntax tree: aliases caught, text ignored."""

from __future__ import annotations

import pytest

from thalamus.hygiene import scan, scan_source
from thalamus.validate import check_rng_hygiene

BAD = {
    "import numpy as np\nx = np.random.normal(0, 1)": "numpy.random.normal()",
    "import numpy.random as npr\nnpr.seed(3)": "numpy.random.seed()",
    "from numpy.random import rand\nrand()": "numpy.random.rand()",
    "from numpy import random as r\nr.RandomState(1)": "numpy.random.RandomState()",
    "import random": "the random module",
    "from random import gauss": "the random module",
    "import numpy as np\nnp.random.default_rng()": "without a seed",
    "import numpy as np\nnp.random.default_rng(None)": "without a seed",
    "from numpy.random import SeedSequence\nSeedSequence()": "without a seed",
    "import numpy as np\nnp.random.PCG64()": "without a seed",
    "import numpy as np, time\nnp.random.default_rng(int(time.time()))": "clock",
    "import numpy as np\nnp.random.SeedSequence(hash('A549'))": "hash()",
    "import os\nos.urandom(8)": "os.urandom",
    "import numpy as n\ndef f():\n    return n.random.choice([1, 2])": "choice",
}
GOOD = (
    "import numpy as np\nnp.random.default_rng(0)",
    "import numpy as np\nnp.random.SeedSequence(7, spawn_key=(1, 2))",
    "import numpy as np\ng = np.random.Generator(np.random.PCG64(seed=3))",
    '"""Never call np.random.normal() or import random."""',
    "# np.random.normal(0, 1)\nx = 1",
    "import numpy as np\ndef f(seed):\n    return np.random.default_rng(seed)",
)


@pytest.mark.parametrize("source, message", BAD.items())
def test_unhygienic_randomness_is_found(source, message):
    findings = scan_source(source, "scratch.py")
    assert findings, source
    assert message in findings[0].message
    assert str(findings[0]).startswith("scratch.py:")


@pytest.mark.parametrize("source", GOOD)
def test_seeded_randomness_and_mere_text_pass(source):
    assert scan_source(source) == []


def test_the_package_is_clean():
    assert scan() == []
    check = check_rng_hygiene()
    assert check.passed, check.detail


def test_a_global_normal_in_a_scratch_module_fails_the_check(tmp_path):
    package = tmp_path / "scratch"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("import numpy as np\n")
    (package / "sub" / "noise.py").write_text(
        "import numpy as np\n\n\ndef jitter(x):\n    return x + np.random.normal()\n"
    )
    assert check_rng_hygiene(package).passed is False
    (finding,) = scan(package)
    assert finding.path == str(package / "sub" / "noise.py")
    assert finding.line == 5
    assert "numpy.random.normal()" in check_rng_hygiene(package).detail


def test_unparseable_file_is_reported(tmp_path):
    (tmp_path / "broken.py").write_text("def (:\n")
    (finding,) = scan(tmp_path)
    assert finding.message.startswith("cannot parse")
