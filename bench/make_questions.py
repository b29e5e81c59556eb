"""Templated question sets for the duplicate search: ``python bench/make_questions.py N``.

Real interview sets repeat a few frames with different subjects (``X有哪些优缺点？在Y和Z
场景下如何选择？``). These are made the same way: 24 frames (16 Chinese, 8 English) with
one to three slots, filled from a limited vocabulary of 64 Chinese terms and 64 English
names (some with a version: ``GPT-4``, ``Python 3.11``). One question in 25 rewords an
earlier one as people do: the two subjects swapped, a framing phrase added, a ``的``
inserted, the question mark dropped. Those are the pairs a duplicate search should find.
Deterministic: the same ``n`` and ``seed`` give the same questions.
"""

from __future__ import annotations

import random
import sys

CJK_TERMS = (
    "数据库",
    "消息队列",
    "缓存",
    "索引",
    "线程池",
    "协程",
    "进程",
    "注意力机制",
    "卷积神经网络",
    "循环神经网络",
    "梯度下降",
    "随机森林",
    "决策树",
    "支持向量机",
    "逻辑回归",
    "线性回归",
    "聚类",
    "降维",
    "正则化",
    "批量归一化",
    "层归一化",
    "残差连接",
    "位置编码",
    "词向量",
    "知识蒸馏",
    "模型剪枝",
    "量化",
    "微调",
    "预训练",
    "对比学习",
    "强化学习",
    "迁移学习",
    "数据增强",
    "交叉熵",
    "均方误差",
    "学习率",
    "优化器",
    "激活函数",
    "损失函数",
    "哈希表",
    "二叉树",
    "红黑树",
    "堆排序",
    "快速排序",
    "链表",
    "动态规划",
    "贪心算法",
    "分布式训练",
    "混合精度",
    "梯度裁剪",
    "早停",
    "集成学习",
    "特征工程",
    "特征选择",
    "主成分分析",
    "词嵌入",
    "语言模型",
    "负载均衡",
    "分库分表",
    "读写分离",
    "垃圾回收",
    "内存泄漏",
    "死锁",
    "事务隔离",
)
LATIN_TERMS = (
    "Redis",
    "Kafka",
    "MySQL",
    "PostgreSQL",
    "MongoDB",
    "Elasticsearch",
    "RabbitMQ",
    "Docker",
    "Kubernetes",
    "Nginx",
    "Flask",
    "Django",
    "FastAPI",
    "PyTorch",
    "TensorFlow",
    "NumPy",
    "Pandas",
    "BERT",
    "GPT-4",
    "GPT-3.5",
    "Transformer",
    "LSTM",
    "GRU",
    "CNN",
    "ResNet-50",
    "ViT",
    "CLIP",
    "LoRA",
    "Adam",
    "SGD",
    "Dropout",
    "Softmax",
    "Beam Search",
    "XGBoost",
    "LightGBM",
    "ChatGLM-2",
    "ChatGLM-3",
    "Llama 2",
    "T5",
    "Word2Vec",
    "GloVe",
    "FastText",
    "Spark",
    "Hadoop",
    "Flink",
    "Hive",
    "HBase",
    "ZooKeeper",
    "gRPC",
    "GraphQL",
    "WebSocket",
    "HTTP/2",
    "TCP",
    "UDP",
    "Python 3.11",
    "asyncio",
    "GIL",
    "Celery",
    "SQLAlchemy",
    "Git",
    "Linux",
    "JVM",
    "Go",
    "Rust",
)
TERMS = CJK_TERMS + LATIN_TERMS

#: (frame, whether X and Y may be swapped without changing the question)
FRAMES: tuple[tuple[str, bool], ...] = (
    ("{X}有哪些优缺点？在{Y}和{Z}场景下如何选择？", False),
    ("{X}和{Y}有什么区别？", True),
    ("什么是{X}？它在{Y}中的作用是什么？", False),
    ("如何在{X}中实现{Y}？", False),
    ("{X}的原理是什么？", False),
    ("为什么{X}比{Y}更适合{Z}？", False),
    ("请解释{X}的工作原理，以及它与{Y}的关系。", False),
    ("如何使用{X}进行{Y}？", False),
    ("{X}中的{Y}是如何实现的？", False),
    ("在{X}中，如何优化{Y}的性能？", False),
    ("{X}和{Y}分别适用于什么场景？", True),
    ("简述{X}的实现方式和常见问题。", False),
    ("{X}、{Y}和{Z}各有什么特点？", True),
    ("使用{X}时遇到{Y}问题应该怎么排查？", False),
    ("{X}在{Y}和{Z}之间如何权衡？", False),
    ("{X}与{Y}结合使用有哪些注意事项？", True),
    ("What are the pros and cons of {X}, and how do you choose between {Y} and {Z}?", False),
    ("What is the difference between {X} and {Y}?", True),
    ("How do you implement {X} in {Y}?", False),
    ("Explain how {X} works and why it matters for {Y}.", False),
    ("When should you use {X} instead of {Y}?", False),
    ("How does {X} handle {Y} in {Z}?", False),
    ("What problems does {X} solve compared with {Y}?", False),
    ("How can you speed up {X} when using {Y}?", False),
)
CJK_FRAMES = tuple(f for f in FRAMES if not f[0].isascii())
PREFIXES = ("请", "解释一下", "简单说说", "谈谈")
REWORDED = 25  # one question in this many rewords an earlier one


def _reword(question: str, frame: str, slots: tuple[str, str, str], rng: random.Random) -> str:
    """An earlier question asked again in other words."""
    how = rng.randrange(4)
    if how == 0 and dict(FRAMES)[frame]:  # a frame where X and Y may swap
        x, y, z = slots
        return frame.format(X=y, Y=x, Z=z)
    if how == 1:
        if question.isascii():
            return "Briefly: " + question
        return rng.choice(PREFIXES) + question
    if how == 2 and "的" in question:
        i = question.index("的")
        return question[:i] + question[i + 1 :]  # a 的 dropped
    return question.rstrip("？?。.")


def questions(
    n: int,
    seed: int = 0,
    frames: tuple[tuple[str, bool], ...] = FRAMES,
    names: tuple[str, ...] = TERMS,
) -> list[str]:
    """``n`` templated questions, every 25th or so a rewording of an earlier one.

    English frames take English names only.
    """
    rng = random.Random(seed)
    latin = tuple(name for name in names if name.isascii())
    made: list[tuple[str, str, tuple[str, str, str]]] = []
    out: list[str] = []
    for _ in range(n):
        if made and rng.randrange(REWORDED) == 0:
            question, frame, slots = rng.choice(made)
            out.append(_reword(question, frame, slots, rng))
            continue
        frame = rng.choice(frames)[0]
        x, y, z = rng.sample(latin if frame.isascii() else names, 3)
        slots = (x, y, z)
        question = frame.format(X=slots[0], Y=slots[1], Z=slots[2])
        made.append((question, frame, slots))
        out.append(question)
    return out


if __name__ == "__main__":
    for q in questions(int(sys.argv[1]) if len(sys.argv) > 1 else 20):
        print(q)
