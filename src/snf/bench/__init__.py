"""snf-bench: the seed's comparisons, rate-distortion against real codecs, and the figures.

Modules: metrics (PSNR/SSIM/MS-SSIM/LPIPS), codecs (the anchors and their
prefixes), bdrate, rd, paper, figures, plot, results (output folder, sidecar,
CompressAI JSON), budget, refdata (the published figures shipped in reference/).
Needs the `bench` extra (torch, pytorch-msssim, imagecodecs, matplotlib).
"""
