// The error a render rejects with when the viewer no longer wants its picture.

export class Cancelled extends Error {
  constructor() {
    super("cancelled");
    this.name = "Cancelled";
  }
}
