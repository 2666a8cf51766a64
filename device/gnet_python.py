# The reference kernels for gnet.py, in plain Python: the integers every other backend
# (gnet_viper.py, gnet_ulab.py) must reproduce byte for byte (make test-parity). Used
# where neither runs; a module like the others, so that a board running viper or ulab
# does not hold this code in RAM.

RAW = False    # buffers are arrays: 'h' pairs, 'b' weights
SPARSE = True  # inputs equal to the layer's zero point are skipped


def gather(x, pairs, n, how):
    # pairs <- i, v for every input with v = x[i] + delta != 0 (how = delta << 8 | flip;
    # x's items are ints already: the flip is for raw backends), then one pair 0, 0 (it
    # adds nothing: accumulate reads pairs two at a time); returns their count
    delta = how >> 8
    k = 0
    for i in range(n):
        v = x[i] + delta
        if v:
            pairs[k] = i
            pairs[k + 1] = v
            k += 2
    pairs[k] = 0
    pairs[k + 1] = 0
    return k >> 1


def accumulate(W, pairs, nnz, n_in, c0, rows, acc):
    # For r < rows: acc[c0 + r] = sum_j W[r * n_in + i_j] * v_j over the nnz gathered pairs
    # (i_j, v_j); W: (rows, n_in) int8, row-major. Two pairs a step (the loop's own cost
    # is much of a step's): with an odd count the last step reads gather's 0, 0.
    end = 2 * nnz
    base = 0
    for r in range(rows):
        s = 0
        for j in range(0, end, 4):
            s += W[base + pairs[j]] * pairs[j + 1] + W[base + pairs[j + 2]] * pairs[j + 3]
        acc[c0 + r] = s
        base += n_in
