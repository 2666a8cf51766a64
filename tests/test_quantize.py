"""The integer arithmetic: the vectorised numpy `reference` against FORMAT.md written out
as plain Python loops, the requantisation bounds, and what quantisation costs."""
import numpy as np
import pytest

from trainer import mlp, qformat, quantize, train


def spec_scores(q, pixels):
    """FORMAT.md's arithmetic, literally: one image, Python ints, left-to-right sums."""
    x = [int(p) + q.input_offset for p in pixels]
    for L in q.layers:
        out = []
        for c in range(L["W"].shape[0]):
            acc = int(L["bias"][c])
            for i, w in enumerate(L["W"][c]):
                acc += int(w) * x[i]
                assert abs(acc) <= qformat.LIMIT
            M, S = int(L["M"][c]), int(L["S"][c])
            t = acc * M + (1 << (S - 1))
            assert abs(t) <= qformat.LIMIT
            y = L["zero"] + (t >> S)
            if L["act"] == "relu":
                y = min(max(y, L["zero"]), 127)
            else:
                y = min(max(y, -128), 127)
                if L["act"] == "sigmoid":
                    y = int(L["lut"][y + 128])
            out.append(y)
        x = out
    return x


@pytest.fixture(scope="module")
def models(mnist):
    trainset, _ = mnist
    out = {}
    for name, s in (("relu", dict(sizes=[784, 40, 10], epochs=2, augment=False)),
                    ("sigmoid", dict(sizes=[784, 30, 20, 10], hidden="sigmoid", epochs=5, augment=False)),
                    ("rashid", dict(train.RASHID, epochs=1, sizes=[784, 50, 10]))):
        settings = dict(train.DEFAULTS)
        settings.update(s)
        model, _, _ = train.train(trainset, None, settings, log=lambda *a: None, show_progress=False)
        out[name] = (model, quantize.quantize(model, trainset.images))
    return out


def test_reference_is_the_spec(models, mnist):
    _, test = mnist
    rng = np.random.default_rng(1)
    images = np.concatenate([test.images[:12].reshape(12, -1), rng.integers(0, 256, (3, 784), dtype=np.uint8),
                             np.zeros((1, 784), np.uint8), np.full((1, 784), 255, np.uint8)])
    for name, (_, q) in models.items():
        ref = quantize.reference(q, images)
        for img, r in zip(images, ref):
            assert spec_scores(q, img) == r.tolist(), name


def test_int8_accuracy_close_to_float(models, mnist):
    from trainer import evaluate

    _, test = mnist
    for name, (model, q) in models.items():
        fa = float((evaluate.predict(model, test.images)[0] == test.labels).mean())
        ia = float((quantize.argmax(quantize.reference(q, test.images)) == test.labels).mean())
        assert ia > fa - 0.005, (name, fa, ia)


def test_ideal_multiplier_costs_little(models, mnist):
    trainset, test = mnist
    model, q = models["relu"]
    qi = quantize.quantize(model, trainset.images, ideal=True)
    a = quantize.argmax(quantize.reference(q, test.images))
    b = quantize.argmax(quantize.reference(qi, test.images))
    assert (a == b).mean() > 0.995  # the 32-bit-safe multipliers change <0.5 % of answers


@pytest.mark.parametrize("m", [1e-9, 3.7e-5, 0.00123, 0.5, 1.0, 7.3])
@pytest.mark.parametrize("A", [1, 1000, 3_000_000, 200_000_000])
def test_requant_params_stay_within_2_30(m, A):
    if A * m * 2 > qformat.LIMIT:  # the output alone would leave the range: refused
        with pytest.raises(ValueError, match="2\\^30"):
            quantize.requant_params(m, A)
        return
    M, S = quantize.requant_params(m, A)
    assert 1 <= M <= 0xFFFF and 1 <= S <= 30
    assert A * M + (1 << (S - 1)) <= qformat.LIMIT
    if m * (1 << 30) > 1 and A * m < 2**20:  # representable: as close as the bits allow
        assert abs(M / 2**S - m) / m <= 1 / M


def test_ties_go_to_the_lowest_index():
    s = np.array([[5, 9, 9, 1], [3, 3, 3, 3], [-128, -128, -127, -127]], np.int8)
    assert quantize.argmax(s).tolist() == [1, 0, 2]


def test_confidence_matches_probabilities(models, mnist):
    _, test = mnist
    model, q = models["relu"]
    scores = quantize.reference(q, test.images[:200])
    conf = quantize.confidence(q, scores) / 10000
    from trainer import evaluate

    probs = evaluate.predict(model, test.images[:200])[1].max(axis=1)
    assert np.median(np.abs(conf - probs)) < 0.05


def test_quantize_handles_dead_neurons():
    m = mlp.MLP([784, 5, 10], seed=0)
    m.W[0][2] = 0  # a neuron with no weights at all
    q = quantize.quantize(m, np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    qformat.from_bytes(qformat.to_bytes(q))


def test_float32_dot_is_exact_within_the_bounds(models, mnist):
    """FORMAT.md: a row's dot product in float32 (a ulab board's) is exact when
    128 * sum|W| < 2^24, in any summation order; true for every shipped-size row."""
    _, test = mnist
    for name, (_, q) in models.items():
        L = q.layers[0]
        assert (128 * np.abs(L["W"].astype(np.int64)).sum(axis=1) < 2**24).all()
        x = test.images[:500].reshape(500, -1).astype(np.int64) + q.input_offset
        exact = x @ L["W"].T.astype(np.int64)
        as_f32 = x.astype(np.float32) @ L["W"].T.astype(np.float32)
        assert np.array_equal(as_f32.astype(np.int64), exact), name
