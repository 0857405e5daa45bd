/**
 * The response head deadline: once a request is sent whole (its body, if any, written), the upstream's response
 * head must be complete within the route's `timeout`. The idle timeout alone restarts on every byte, so an upstream
 * that trickles its head a byte at a time would hold the request (and its pooled socket) forever.
 *
 * Cost: one timer per upstream socket, made for its first request and re-armed (`refresh()`, no allocation) by each
 * later request on that keep-alive socket, which owns the socket alone until its exchange ends; no timer per request.
 * The timer fires `timeout` after the last arming: if the request armed then is still without its head, it is late.
 */
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';

/*
 * State of the upstream socket, not of one request: the timer outlives each request on a keep-alive socket (made
 * once, re-armed per request), and `fire` finds the waiting request from the socket alone.
 */
/** Marks a socket whose current request has its response head. */
const ANSWERED = Symbol('portico.headAnswered');
const WAITING = Symbol('portico.headWaiting');
const TIMER = Symbol('portico.headTimer');
const TIMER_MS = Symbol('portico.headTimerMs');

interface HeadState {
  /** The request on this socket still waiting for its head, ANSWERED, or undefined while its body is being sent. */
  [WAITING]?: ClientRequest | typeof ANSWERED | undefined;
  [TIMER]?: NodeJS.Timeout;
  [TIMER_MS]?: number;
}

export type LateHead = (proxyReq: ClientRequest) => void;

function fire(socket: Socket & HeadState, late: LateHead): void {
  const waiting = socket[WAITING];
  if (waiting === undefined || waiting === ANSWERED || waiting.destroyed) return;
  socket[WAITING] = undefined;
  late(waiting);
}

function dropTimer(this: Socket & HeadState): void {
  const timer = this[TIMER];
  if (timer !== undefined) clearTimeout(timer);
  this[TIMER] = undefined;
  this[WAITING] = undefined;
}

/** Starts the head clock for `proxyReq` on `socket`: `late(proxyReq)` runs if no head came within `ms`. */
export function awaitHead(proxyReq: ClientRequest, socket: Socket, ms: number, late: LateHead): void {
  const state = socket as Socket & HeadState;
  state[WAITING] = proxyReq;
  const timer = state[TIMER];
  if (timer !== undefined && state[TIMER_MS] === ms) {
    timer.refresh();
    return;
  }
  if (timer !== undefined) clearTimeout(timer);
  else socket.once('close', dropTimer);
  const made = setTimeout(fire, ms, state, late);
  made.unref();
  state[TIMER] = made;
  state[TIMER_MS] = ms;
}

/** The socket's current request is still sending its body: no head clock yet. */
export function headNotDue(socket: Socket): void {
  (socket as Socket & HeadState)[WAITING] = undefined;
}

/** True when the socket's current request already has its head (an upstream that answered before the body ended). */
export function headAnswered(socket: Socket): boolean {
  return (socket as Socket & HeadState)[WAITING] === ANSWERED;
}

/** The response head arrived: the clock stops for this request. */
export function headArrived(socket: Socket | null): void {
  if (socket !== null) (socket as Socket & HeadState)[WAITING] = ANSWERED;
}
