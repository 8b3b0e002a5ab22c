"""Job routes: the state of background encodes (read-only; jobs are made by uploads).

The listing needs the bearer token (it names every upload); one job is readable
by whoever holds its id (128 random bits, returned to the uploader)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from snf.serve.auth import require_writer
from snf.serve.ids import valid_job_id
from snf.serve.jobs import job_view

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}}


@router.get("", summary="Recent encode jobs, newest first (needs the bearer token)",
            dependencies=[Depends(require_writer)],
            responses={401: {**ERROR, "description": "no or wrong token"},
                       403: {**ERROR, "description": "no token configured: listing disabled"},
                       422: {**ERROR, "description": "invalid limit"}})
async def list_jobs(request: Request, limit: int = Query(50, ge=1, le=1000)) -> dict:
    jobs = [job_view(j) for j in request.app.state.catalog.jobs(limit)]
    return {"jobs": jobs, "count": len(jobs)}


@router.get("/{job_id}", summary="A job's state: queued, running, done or failed; progress 0..1",
            responses={400: {**ERROR, "description": "malformed job id"}, 404: {**ERROR, "description": "no such job"}})
async def get_job(job_id: str, request: Request) -> dict:
    if not valid_job_id(job_id):
        raise HTTPException(400, "invalid job id")
    job = request.app.state.catalog.job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job_view(job)
