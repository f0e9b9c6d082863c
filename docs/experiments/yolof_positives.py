"""YOLOF positives per object on bccd trainval at one input scale: each ground truth takes the 4 anchors and
4 predictions nearest by L1 on (cx, cy, w, h), and a match whose anchor has IoU < 0.15 is ignored (mmdetection
2.x UniformAssigner); a prior matched twice keeps its last match. Predictions are taken equal to the anchors
(the state at initialisation). Anchors: stride 32, sides 32-512, no centre offset (YolofDetector.DefaultAnchors).
A count written from the rules, independent of HpfDet's UniformAssigner.
Run: /usr/bin/python3 docs/experiments/yolof_positives.py SHORT_SIDE MAX_SIZE   (e.g. 480 640)
"""
import sys, numpy as np, xml.etree.ElementTree as ET, os
root='../shared/data/bccd'; scale=float(sys.argv[1]); maxs=float(sys.argv[2])
ids=open(f'{root}/ImageSets/Main/trainval.txt').read().split()
def iou(a,b):
    lt=np.maximum(a[:,None,:2],b[None,:,:2]); rb=np.minimum(a[:,None,2:],b[None,:,2:]); wh=np.clip(rb-lt,0,None)
    inter=wh[...,0]*wh[...,1]; aa=(a[:,2]-a[:,0])*(a[:,3]-a[:,1]); ab=(b[:,2]-b[:,0])*(b[:,3]-b[:,1])
    return inter/(aa[:,None]+ab[None]-inter)
def cs(b): return np.stack([(b[:,0]+b[:,2])/2,(b[:,1]+b[:,3])/2,b[:,2]-b[:,0],b[:,3]-b[:,1]],1)
stats={}
for i in ids:
    t=ET.parse(f'{root}/Annotations/{i}.xml').getroot()
    W=float(t.find('size/width').text); H=float(t.find('size/height').text)
    s=min(scale/min(W,H), maxs/max(W,H)); w,h=W*s,H*s
    boxes=[];names=[]
    for o in t.findall('object'):
        bb=o.find('bndbox'); boxes.append([float(bb.find(k).text) for k in ('xmin','ymin','xmax','ymax')]); names.append(o.find('name').text)
    if not boxes: continue
    g=np.array(boxes)*s
    fw,fh=int(np.ceil(w/32)),int(np.ceil(h/32))
    ys,xs=np.meshgrid(np.arange(fh)*32.0,np.arange(fw)*32.0,indexing='ij')
    c=np.stack([xs.ravel(),ys.ravel()],1)
    A=[]
    for side in (32,64,128,256,512):
        A.append(np.concatenate([c-side/2,c+side/2],1))
    A=np.stack(A,1).reshape(-1,4)
    d=np.abs(cs(A)[:,None,:]-cs(g)[None]).sum(-1)
    near=np.argsort(d,0)[:4]            # [4,G]
    I=iou(A,g)
    # priors: 2 match sets (predictions=anchors at init, so the same set twice)
    match=np.full(len(A),-1)
    pairs=[(p,j) for r in range(4) for j in range(len(g)) for p in [near[r,j]]]*1
    pairs=pairs+pairs
    for p,j in pairs:
        match[p]= j if I[p,j]>=0.15 else -2
    for j,n in enumerate(names):
        st=stats.setdefault(n,[0,0,0,[],[]])
        st[0]+=1; pos=(match==j).sum(); st[1]+=pos; st[2]+= pos==0
        st[3].append(np.sqrt((g[j,2]-g[j,0])*(g[j,3]-g[j,1]))); st[4].append(I[near[:,j],j].max())
for n,(cnt,pos,zero,sz,best) in stats.items():
    print(f'{n:10s} objects {cnt:5d} positives/object {pos/cnt:.2f}  objects with none {zero} ({zero/cnt:.0%})  median side {np.median(sz):.0f} px  median best IoU of its 4 nearest anchors {np.median(best):.2f}')
