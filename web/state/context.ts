import { createContext } from 'svelte';
import type { ReviewSession } from './review-session.svelte.ts';

/** One ReviewSession per review page, shared by its components (not a module singleton). */
export const [getReviewSession, setReviewSession] = createContext<ReviewSession>();
