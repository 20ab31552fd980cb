import { linspace } from '../numeric/numpy.js';

export type IouType = 'bbox' | 'segm';

/** COCOeval parameters with pycocotools' defaults (identical float64 thresholds). */
export class Params {
  imgIds: number[] = [];
  catIds: number[] = [];
  /** np.linspace(.5, .95, 10): note 0.8999999999999999. */
  iouThrs: number[] = linspace(0.5, 0.95, 10);
  recThrs: number[] = linspace(0, 1, 101);
  maxDets: number[] = [1, 10, 100];
  areaRng: [number, number][] = [
    [0, 1e10],
    [0, 32 ** 2],
    [32 ** 2, 96 ** 2],
    [96 ** 2, 1e10],
  ];
  areaRngLbl: string[] = ['all', 'small', 'medium', 'large'];
  useCats = true;

  constructor(public iouType: IouType = 'segm') {}
}
