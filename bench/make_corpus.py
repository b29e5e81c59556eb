"""Deterministic synthetic note sets in both conventions: ``python bench/make_corpus.py N OUT``.

Half the files use heading questions (``## topic`` / ``#### N. question``), half use list
questions (``### topic`` / ``N. question`` with nested answers and indented fences), 500
questions a file, mixed Chinese and English, 30 % of answers with a Python block.

``--math-every K`` (``python bench/make_corpus.py N OUT --math-every 5``) adds a formula
to every K-th answer: a sentence with inline ``$…$`` math, and every other time a
``$$…$$`` display block, drawn from formulas of machine-learning notes with varied
indices. Without it (the default) the corpus is exactly as before.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import TypeAlias

WORDS = (
    "模型",
    "训练",
    "数据",
    "梯度",
    "注意力",
    "向量",
    "参数",
    "损失",
    "优化器",
    "批量",
    "序列",
    "编码器",
    "解码器",
    "线程",
    "进程",
    "协程",
    "生成器",
    "迭代器",
    "装饰器",
    "字典",
    "列表",
    "集合",
    "内存",
    "缓存",
    "索引",
    "卷积",
    "池化",
    "归一化",
    "正则化",
    "采样",
)
LATIN = (
    "BERT",
    "Transformer",
    "PyTorch",
    "NumPy",
    "Pandas",
    "GIL",
    "LoRA",
    "softmax",
    "batch",
    "token",
    "embedding",
)
PER_FILE = 500


def sentence(rng: random.Random) -> str:
    parts = [rng.choice(WORDS if rng.random() < 0.75 else LATIN) for _ in range(rng.randint(8, 20))]
    if rng.random() < 0.3:
        parts[rng.randrange(len(parts))] = f"**{rng.choice(WORDS)}（{rng.choice(LATIN)}）**"
    if rng.random() < 0.3:
        parts[rng.randrange(len(parts))] = f"`{rng.choice(LATIN).lower()}()`"
    return "".join(parts) + "。"


#: Statement shapes like the seeds' code: comments, blank lines, calls, small functions.
#: With them a line averages about 9 Pygments tokens, as in the seeds (8.7); every block parses.
STATEMENTS = (
    ("# {w}的用法：先{w2}，再把结果交给{w}",),
    ("",),
    ("{v} = {f}({v2})",),
    ("print({v})  # 输出：{n}",),
    ('print(f"{w}: {{{v}}}")  # {w2}',),
    ("{v} = [{v2} for {v2} in range({n})]",),
    ("for {v2} in {v}:", "    print({v2})"),
    ("def {f}({v2}):", "    # {w}", "    return {v2} + {n}"),
    ("{v} = '{w}'",),
    ("{v}.{f}()",),
    ("import {m}",),
)


#: Formulas of machine-learning interview notes; ``{i}``/``{j}`` vary so most are distinct.
FORMULAS = (
    r"Q^*(s,a) = \max_{{\pi}} Q^{{\pi}}_{i}(s,a)",
    r"\mathrm{{softmax}}(z_{i}) = \frac{{e^{{z_{i}}}}}{{\sum_{{j=1}}^{{{j}}} e^{{z_j}}}}",
    r"\mathrm{{Attention}}(Q,K,V)=\mathrm{{softmax}}\left(\frac{{QK^T}}{{\sqrt{{d_{i}}}}}\right)V",
    r"L = -\sum_{{i=1}}^{{{j}}} y_i \log \hat{{y}}_i",
    r"\theta_{{t+{i}}} = \theta_t - \eta \nabla_\theta L(\theta_t)",
    r"\mathbb{{E}}_{{x \sim p}}[\log D(x_{i})]",
    r"\left\| W_{i} \right\|_2^2 + \lambda \sum_{{k={j}}} w_k^2",
    r"f(z)=\left\{{\begin{{array}}{{ll}} 0 & z<{i} \\ z & z \ge {i} \end{{array}}\right.",
)


#: (every K-th answer, the formulas' own random stream), or None for no formulas.
Math: TypeAlias = "tuple[int, random.Random] | None"


def formula(rng: random.Random) -> str:
    return rng.choice(FORMULAS).format(i=rng.randint(1, 9), j=rng.randint(2, 99))


def math_lines(rng: random.Random, indent: str) -> list[str]:
    """A sentence with an inline formula, and every other time a display formula after it."""
    what, which = rng.choice(WORDS), rng.choice(WORDS)
    lines = [f"{indent}{what}的公式是 ${formula(rng)}$，其中{which}是参数。"]
    if rng.random() < 0.5:
        lines += ["", f"{indent}$$", f"{indent}{formula(rng)}", f"{indent}$$"]
    return [*lines, ""]


def code(rng: random.Random, indent: str) -> list[str]:
    lines = ["```python"]
    for _ in range(rng.randint(5, 20)):
        for shape in rng.choice(STATEMENTS):
            lines.append(
                shape.format(
                    w=rng.choice(WORDS),
                    w2=rng.choice(WORDS),
                    v=rng.choice(("x", "data", "result", "items", "arr")),
                    v2=rng.choice(("i", "item", "value", "n")),
                    f=rng.choice(("process", "load", "update", "compute", "step")),
                    m=rng.choice(("os", "asyncio", "numpy as np", "torch")),
                    n=rng.randint(1, 99),
                )
            )
    lines.append("```")
    return [indent + line if line else "" for line in lines]


def subject(rng: random.Random) -> str:
    """Two or three random common ideographs: real notes ask about many different things."""
    return "".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(rng.randint(2, 3)))


def question(rng: random.Random, k: int) -> str:
    templates = (
        "{l}中的{s}和{w}有什么区别？",
        "如何理解{s}{w}？",
        "什么是{l}的{s}？",
        "{s}与{w}的关系（{k}）",
    )
    return rng.choice(templates).format(
        l=rng.choice(LATIN), s=subject(rng), w=rng.choice(WORDS), k=k
    )


def heading_file(rng: random.Random, start: int, math: Math = None) -> str:
    out: list[str] = []
    n = 0
    for q in range(PER_FILE):
        if q % 20 == 0:
            out += [f"## 主题 {start + q}", ""]
            n = 0
        n += 1
        out += [f"#### {n}. {question(rng, start + q)}", ""]
        for _ in range(rng.randint(3, 6)):
            out += [sentence(rng), ""]
        if rng.random() < 0.25:
            out += [f"- {sentence(rng)}" for _ in range(3)] + [""]
        if rng.random() < 0.3:
            out += [*code(rng, ""), ""]
        if math and (start + q) % math[0] == 0:
            out += math_lines(math[1], "")
    return "\n".join(out)


def list_file(rng: random.Random, start: int, math: Math = None) -> str:
    out: list[str] = []
    n = 0
    for q in range(PER_FILE):
        if q % 20 == 0:
            out += [f"### 主题 {start + q}：", ""]
            n = 0
        n += 1
        pad = " " * (len(str(n)) + 2)
        out += [f"{n}. {question(rng, start + q)}", ""]
        out += [f"{pad}1. {sentence(rng)}", ""]
        for _ in range(rng.randint(2, 4)):
            out += [f"{pad}   {sentence(rng)}", ""]
        if rng.random() < 0.25:
            out += [f"{pad}- {sentence(rng)}" for _ in range(3)] + [""]
        if rng.random() < 0.3:
            block = code(rng, pad + "   ")
            out += [f"{pad}2. " + block[0].lstrip(), *block[1:], ""]
        if math and (start + q) % math[0] == 0:
            out += math_lines(math[1], pad + "   ")
    return "\n".join(out)


def make(n: int, out: Path, seed: int = 20261122, math_every: int = 0) -> None:
    """Write ``n`` questions into ``out`` (replaced); a formula in every ``math_every``-th
    answer when it is set. The formulas draw from their own random stream, so the rest of
    the corpus is the same with or without them."""
    rng = random.Random(seed)
    math = (math_every, random.Random(seed + 1)) if math_every else None
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.md"):
        old.unlink()
    for f in range(max(1, n // PER_FILE)):
        make_file = heading_file if f % 2 == 0 else list_file
        text = make_file(rng, f * PER_FILE, math)
        (out / f"part{f:04d}.md").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    args = sys.argv[1:]
    every = 0
    if "--math-every" in args:
        at = args.index("--math-every")
        every = int(args[at + 1])
        del args[at : at + 2]
    make(int(args[0]), Path(args[1]), math_every=every)
