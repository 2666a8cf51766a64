/* The C reference for bench/device.py: one int8 3x3 convolution, channels-last, the
 * integer arithmetic of device/gnet_conv.py's conv3x3 (TFLite-Micro's reference
 * integer conv in small: every tap multiplied, padding read as the input's zero point,
 * requantised with a 16-bit multiplier and a shift). Its instructions per multiply-add,
 * counted by callgrind, stand beside the viper kernel's.
 *
 *   conv_ref H W C CO STRIDE N      runs the convolution N times on made-up data
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void conv3x3(const int8_t *x, int h, int w, int c, const int8_t *W, const int32_t *K,
                    const uint16_t *M, const uint8_t *S, int zero, int zx, int stride,
                    int oh, int ow, int co, int pt, int pl, int8_t *out) {
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
            for (int k = 0; k < co; k++) {
                int32_t s = K[k];
                const int8_t *wk = W + k * 9 * c;   /* (co, 3, 3, c) int8, row-major */
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++, wk += c) {
                        int yy = i * stride - pt + ky, xx = j * stride - pl + kx;
                        if (yy >= 0 && yy < h && xx >= 0 && xx < w) {
                            const int8_t *xi = x + (yy * w + xx) * c;
                            for (int ch = 0; ch < c; ch++) s += wk[ch] * xi[ch];
                        } else {
                            for (int ch = 0; ch < c; ch++) s += wk[ch] * zx;
                        }
                    }
                int32_t v = zero + (int32_t)(((int64_t)s * M[k] + (1 << (S[k] - 1))) >> S[k]);
                out[(i * ow + j) * co + k] = (int8_t)(v < zero ? zero : v > 127 ? 127 : v);
            }
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: conv_ref H W C CO STRIDE N\n");
        return 2;
    }
    int h = atoi(argv[1]), w = atoi(argv[2]), c = atoi(argv[3]), co = atoi(argv[4]), stride = atoi(argv[5]);
    int n = atoi(argv[6]);
    int oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;   /* 'same' */
    int th = (oh - 1) * stride + 3 - h, tw = (ow - 1) * stride + 3 - w;
    int pt = (th > 0 ? th : 0) / 2, pl = (tw > 0 ? tw : 0) / 2;
    int8_t *x = malloc(h * w * c), *W = malloc(9 * c * co), *out = malloc(oh * ow * co);
    int32_t *K = malloc(4 * co);
    uint16_t *M = malloc(2 * co);
    uint8_t *S = malloc(co);
    unsigned r = 1;
    for (int i = 0; i < h * w * c; i++) x[i] = (int8_t)((r = r * 1103515245 + 12345) >> 24) / 2;
    for (int i = 0; i < 9 * c * co; i++) W[i] = (int8_t)((r = r * 1103515245 + 12345) >> 24) / 2;
    for (int k = 0; k < co; k++) { K[k] = 100 * k; M[k] = 20000; S[k] = 20; }
    long total = 0;
    for (int t = 0; t < n; t++) {
        conv3x3(x, h, w, c, W, K, M, S, -128, -128, stride, oh, ow, co, pt, pl, out);
        total += out[t % (oh * ow * co)];
    }
    printf("%ld\n", total);
    return 0;
}
