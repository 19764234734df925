#ifndef TSEDARTS_REF_DEPTHWISE_SHIFTED_H
#define TSEDARTS_REF_DEPTHWISE_SHIFTED_H

/* Depthwise planes with their shifts formed in registers
 * (depthwise_shifted.c): each *_fits says whether the shape takes that
 * path in this build (never without AVX-512); x, y, dy and dx are single
 * unpadded planes, w one channel's K x K taps. */

/* Stride 1, the size kept: y = the plane's convolution, of relu(x) when
 * relu is set (the data gradient: dy with the kernel turned, relu 0). */
int dw_shifted_fits(int H, int W, int K, int d, int p);
void dw_plane_shifted(const float *x, int H, int W, const float *w, int K, int d, int relu, float *y);

/* Stride 2 on square planes: the forward, and the data gradient as a
 * gather (dx W x W from dy W/2 x W/2). */
int dw_s2_shifted_fits(int H, int W, int K, int d, int p);
void dw_plane_s2_shifted(const float *x, int H, int W, const float *w, int K, int d, int relu, float *y);
void dw_plane_s2_gather(const float *dy, int W, const float *w, int K, int d, float *dx);

/* Stride 1 weight gradient: one image's terms of one channel added to the
 * taps' 8 lanes at acc (tap t at acc + 8 t), of relu(x) when relu is set. */
int dwf_shifted_fits(int H, int W, int Ho, int Wo, int K, int d, int p);
void dwf_plane_shifted(const float *x, const float *dy, int H, int W, int K, int d, int relu, float *acc);

#endif
